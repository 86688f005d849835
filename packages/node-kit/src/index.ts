export { type FlagSpec, type LoadConfigOptions, loadConfig, parseEndpoint, parseVoters, wantsHelp } from './config.js';
export { runMain } from './main.js';
