"""The Test page's Export section: prepare every file the model's kind offers, then a download button,
what the file is and the snippet that runs it, for each. The choices are :mod:`tm_core.export`'s."""

from __future__ import annotations

import streamlit as st

from tm_core import export
from tm_core.i18n import _
from tm_core.ui import state
from tm_core.ui.state import RunRecord, Session
from tm_core.ui.widgets import clicked


def int8_note(agreement) -> str:
    """What the int8 file's check found, in a sentence (measured on the held-out samples at export time)."""
    if agreement is None or not agreement.n:
        return _("No samples were held out from training, so how often it agrees with the app could not be "
                 "checked: hold some out on the Train page and export again.")
    share = f"{agreement.share:.0%}"
    return _("Checked when these files were made: on {n} of your samples it was not trained on, it named "
             "the same class as the app on {same} ({share}).", n=agreement.n, same=agreement.same, share=share)


def downloads(sess: Session, rec: RunRecord) -> None:
    st.subheader(_("Export"))
    kind = state.encoder(rec.encoder).kind
    files = sess.exports.get(rec.id)
    if files is None:
        st.write(_("Export the model to use it outside the app. Preparing every format takes a while: the small "
                   "int8 version is checked against the app's answers on your test samples.")
                 if export.checks_int8(kind) else
                 _("Export the model to use it outside the app. Preparing the files takes a moment."))
        if clicked(st, _("Prepare export files"), "export:prepare"):
            status = st.status(_("Exporting…"), expanded=True)
            held_out = [rec.dataset.samples[i] for i in rec.run.split.test]
            files = export.prepare(state.model_encoder(rec), rec.run.head, rec.run.class_names, held_out,
                                   on_step=status.write)
            sess.exports = {rec.id: files}
            status.update(label=_("Export files ready"), state="complete")
            st.rerun()
        return
    encoder = state.encoder(rec.encoder)  # which snippet: its kind (and for hands, whether it takes the picture)
    for d in (d for d in export.downloads(kind) if d.file in files):  # TensorFlow.js: MobileNet backbones only
        with st.container(border=True):
            left, right = st.columns([1, 3])
            left.download_button(d.label, files[d.file], icon=":material/download:", file_name=d.file,
                                 key=f"dl:{d.form}", width="stretch")
            right.caption(d.what)
            if d.form == "tflite_int8":  # the figure measured on this model, not a sentence written beforehand
                right.caption(int8_note(getattr(files, "int8_agreement", None)))
            right.code(export.snippet_for(encoder, d.form, rec.run.class_names), language=d.language, wrap_lines=True)
