import { cachedMemoryHarness, levelHarness, memoryHarness } from './helpers.js';
import { partitionLogSuite } from './partition-log.suite.js';

// One suite, two stores: the in-memory twin must behave exactly as LevelDB does.
partitionLogSuite(memoryHarness);
partitionLogSuite(levelHarness());
// The same rules with the newest batches served from memory (LogManager's tail cache): a cache
// large enough to hold everything, and one small enough that most reads straddle its edge.
partitionLogSuite(levelHarness({}, 64 * 1024 * 1024));
partitionLogSuite(cachedMemoryHarness(600));
