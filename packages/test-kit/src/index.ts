export {
  getJson,
  type NodeKind,
  type ProcessCluster,
  type ProcessClusterOptions,
  postJson,
  startProcessCluster,
} from './cluster.js';
export {
  cpuSecondsByProcess,
  machineBusySeconds,
  parseMachineBusySeconds,
  parseProcessCpuSeconds,
  processCpuSeconds,
  runningPids,
} from './cpu.js';
export {
  envNumber,
  freePorts,
  killHard,
  type Proc,
  pause,
  resume,
  spawnNode,
  stop,
  tail,
  waitFor,
  warningsLogged,
} from './processes.js';
