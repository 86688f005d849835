#!/usr/bin/env node
import { isMillraceError } from '@millrace/protocol';
import { pino } from 'pino';
import { Broker } from './broker.js';
import { BROKER_USAGE, loadBrokerConfig, wantsHelp } from './config.js';

/** Reads the configuration, recovers the logs, serves, and on SIGTERM or SIGINT stops after a controlled shutdown. */
async function main(argv: readonly string[]): Promise<void> {
  if (wantsHelp(argv)) {
    console.log(BROKER_USAGE);
    return;
  }
  const config = loadBrokerConfig(argv);
  const logger = pino({ level: config.logLevel, base: { node: `broker-${config.brokerId}` } });
  const broker = await Broker.open({ config, logger });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await broker.stop({ controlled: true });
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'stopping failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
  try {
    await broker.start();
  } catch (error) {
    await broker.stop({ controlled: false }).catch(() => undefined);
    throw error;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Operating conditions (bad config, a port in use, damaged storage) are one clear line, not a stack trace.
  if (isMillraceError(error)) console.error(`millrace-broker: ${error.message}`);
  else console.error('millrace-broker: unexpected failure', error);
  process.exit(isMillraceError(error, 'INVALID_CONFIG') ? 2 : 1);
});
