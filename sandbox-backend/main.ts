/** Entry point: `tsx sandbox-backend/main.ts`. Configuration comes from the environment only. */
import { createApp, StartupError } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel, { service: 'berth' });
  // A promise nobody awaited is a bug to fix, but not a reason to drop every learner's terminal.
  process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { error: reason }));
  // After an uncaught exception the process's state is unknown: say why, and exit so that the
  // supervisor (scripts/supervise.ts under npm start) starts a clean one, which adopts the sessions.
  process.on('uncaughtException', (error, origin) => {
    log.error('uncaught exception; exiting for a clean restart', { origin, error });
    process.exit(70);
  });
  let app;
  try {
    app = await createApp(config, log);
  } catch (error) {
    if (error instanceof StartupError) {
      log.error('cannot start', { reason: error.message });
      process.stderr.write(`\nBerth cannot start: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const url = await app.listen();
  log.info('listening', { url });
  process.stderr.write(`\nBerth is running: open ${url}\n\n`);
  // Tells scripts/supervise.ts that this run served, so a later death is worth a restart.
  process.send?.('listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('unclean stop', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`Berth crashed while starting: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
