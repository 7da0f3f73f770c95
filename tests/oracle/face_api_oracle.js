// face-api's tiny face detector on the pure-JavaScript TensorFlow.js CPU backend: the oracle of cnnkit's tests.
//
// Usage: node face_api_oracle.js REQUEST.json
// REQUEST: {"input_size": 416, "score_threshold": 0.1,
//           "images": [{"pixels": "a.rgb", "height": H, "width": W}, ...]}
// where each .rgb file holds H * W * 3 uint8 RGB values, row-major, handed to face-api as an int32 tensor.
// Prints {"backend": "cpu", "face_api": "1.7.15", "tfjs": {...}, "results": [{"raw": [...], "raw_shape": [...],
//         "detections": [{"box": [x1, y1, x2, y2], "score": s}, ...]}, ...]}: boxes in pixels, by descending score.
'use strict';

const fs = require('fs');
const path = require('path');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const { tf } = faceapi;
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  const options = new faceapi.TinyFaceDetectorOptions({
    inputSize: request.input_size, scoreThreshold: request.score_threshold,
  });
  // detect() runs the network once; keep its raw output as it passes, so each photo costs one forward pass
  const net = faceapi.nets.tinyFaceDetector;
  const forwardInput = net.forwardInput.bind(net);
  let raw = null;
  net.forwardInput = (input, size) => {
    const out = forwardInput(input, size);
    raw = tf.clone(out);
    return out;
  };
  const results = [];
  for (const image of request.images) {
    const bytes = fs.readFileSync(image.pixels);
    const pixels = tf.tensor3d(Int32Array.from(bytes), [image.height, image.width, 3], 'int32');
    const found = await faceapi.detectAllFaces(pixels, options);
    results.push({
      raw: Array.from(await raw.data()),
      raw_shape: raw.shape,
      detections: found.map((d) => ({ box: [d.box.left, d.box.top, d.box.right, d.box.bottom], score: d.score })),
    });
    tf.dispose([pixels, raw]);
  }
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), face_api: faceapi.version, tfjs: tf.version, results }));
}

main().catch((error) => {
  process.stderr.write(`face_api_oracle: ${error.stack || error}\n`);
  process.exit(1);
});
