// Load a TensorFlow.js export with npm @tensorflow/tfjs (pure-JS CPU backend) and predict on pictures.
//   node predict_node.mjs MODEL_DIR PIXELS_FILE N
// PIXELS_FILE: N RGB uint8 pictures of 224×224, one after another. Each is fed as @teachablemachine/image's
// capture() feeds it (pixels / 127 - 1). Prints {"probs": [[...], ...]} as JSON on stdout.
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";

const [dir, pixelsFile, n] = process.argv.slice(2);
const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights);
const weightData = Buffer.concat(modelJson.weightsManifest.flatMap(
  (group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
const handler = tf.io.fromMemory({
  modelTopology: modelJson.modelTopology,
  weightSpecs,
  weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
});
await tf.setBackend("cpu");
const model = await tf.loadLayersModel(handler);
const pixels = new Uint8Array(fs.readFileSync(pixelsFile));
const count = Number(n);
const x = tf.tensor4d(pixels, [count, 224, 224, 3], "int32").toFloat().div(tf.scalar(127)).sub(tf.scalar(1));
const probs = await model.predict(x).array();
process.stdout.write(JSON.stringify({ probs, backend: tf.getBackend(), version: tf.version.tfjs }));
