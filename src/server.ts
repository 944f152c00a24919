// Runs the registry: one process, or several workers sharing the port (node:cluster).
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createApp, openMetadata } from './app.js';
import type { BerthConfig } from './config/index.js';

export async function serve(config: BerthConfig): Promise<void> {
  const workers = config.http.workers === 0 ? availableParallelism() : config.http.workers;
  if (workers > 1 && cluster.isPrimary) {
    // Migrate once, before any worker opens the database.
    await (await openMetadata(config)).close();
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('exit', (worker, code, signal) => {
      if (shuttingDown) return;
      console.error(`berth: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      cluster.fork();
    });
    let shuttingDown = false;
    const stop = () => {
      shuttingDown = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }

  const app = await createApp(config);
  const { host, port } = config.http.listen;
  await app.listen({ host, port });
  const stop = async () => {
    // Let in-flight requests finish, but do not wait out keep-alive timers for ever.
    setTimeout(() => app.server.closeAllConnections(), 10_000).unref();
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
