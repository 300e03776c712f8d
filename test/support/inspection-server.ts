import type { TestContext } from 'node:test';
import { featureRegistry } from '../../src/features/index.ts';
import { InspectionServer } from '../../src/inspection-server.ts';
import { silentLogger } from '../../src/log.ts';

/**
 * What most integration tests inspect through: an InspectionServer with the
 * built-in features, no jitter and a silent log, listening on 127.0.0.1 (any
 * port), closed after the test.
 */
export async function startInspectionServer(
  t: Pick<TestContext, 'after'>,
): Promise<{ daemon: InspectionServer; address: string }> {
  const daemon = new InspectionServer({ logger: silentLogger(), registry: featureRegistry, jitter: false });
  t.after(() => daemon.close());
  return { daemon, address: await daemon.listen('127.0.0.1:0') };
}
