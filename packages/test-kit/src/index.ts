export {
  getJson,
  type NodeKind,
  type ProcessCluster,
  type ProcessClusterOptions,
  postJson,
  startProcessCluster,
} from './cluster.js';
export { machineBusySeconds, parseMachineBusySeconds, parseProcessCpuSeconds, processCpuSeconds } from './cpu.js';
export { freePorts, killHard, type Proc, pause, resume, spawnNode, stop, tail, waitFor } from './processes.js';
