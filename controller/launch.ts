// How the controller's Node process is started: the lab, the benchmark and (when they exist)
// the container image and chart use these flags, so what is measured is what ships.
//
// --optimize-for-size: V8 favours memory over speed (smaller heap growth, less eager
// optimisation). The controller's hot path waits on the API server, so the CPU cost did not
// show (1.0 ms of controller CPU per Service with or without it), while on Node 24 under a
// 256 MiB limit RSS at 10,000 Services fell from 161 to 124 MiB (docs/benchmarks.md).
export const CONTROLLER_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];
