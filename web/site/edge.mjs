// edge.mjs: edge.js (the reconnecting WebSocket, documented there) as an
// ES module:
//
//   import { EdgeStream } from "/edge.mjs";
//
// edge.js is a plain script, so that <script src="/edge.js"> works too;
// imported, it defines globalThis.EdgeStream, which this module exports.
import "./edge.js";

export const EdgeStream = globalThis.EdgeStream;
export default EdgeStream;
