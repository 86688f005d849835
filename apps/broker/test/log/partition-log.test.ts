import { levelHarness, memoryHarness } from './helpers.js';
import { partitionLogSuite } from './partition-log.suite.js';

// One suite, two stores: the in-memory twin must behave exactly as LevelDB does.
partitionLogSuite(memoryHarness);
partitionLogSuite(levelHarness());
