// Preloaded into Azurite (node -r ./stdin_guard.js ...): exit when stdin
// closes, so the server never outlives the spec process that holds the
// other end of the pipe, however that process ends.
"use strict";
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
