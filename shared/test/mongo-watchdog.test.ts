import type { TopologyDescriptionChangedEvent } from 'mongodb';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { captureLogger, mongoUrl, uniqueName } from '../../test-support/index.js';
import { connectMongo, type MongoHandle } from '../src/mongo.js';

const handles: MongoHandle[] = [];
afterAll(async () => {
  for (const h of handles) {
    await h.db.dropDatabase().catch(() => {});
    await h.close();
  }
});

/** What the driver reports when it has lost sight of every server. */
const allDown = {
  newDescription: { hasDataBearingServers: false },
} as TopologyDescriptionChangedEvent;

describe('the MongoDB client watchdog', () => {
  it('reconnects a client that sees the server down while it is up, and old handles keep working', async () => {
    const { logger, lines } = captureLogger();
    const handle = await connectMongo(mongoUrl(), {
      dbName: uniqueName('watchdog'),
      logger,
      stuckAfterMs: 300,
    });
    handles.push(handle);
    const items = handle.db.collection('items');
    await items.insertOne({ n: 1 });
    const connect = vi.spyOn(handle.client, 'connect');

    // The wedge: the driver's view says nothing is up (its monitor stopped reporting).
    handle.client.emit('topologyDescriptionChanged', allDown);
    await expect.poll(() => connect.mock.calls.length, { timeout: 10_000 }).toBe(1);
    expect(lines().some((l) => l.includes('reconnecting'))).toBe(true);
    // The collection taken before the reconnect works on the revived client.
    await items.insertOne({ n: 2 });
    expect(await items.countDocuments({})).toBe(2);
  });

  it('does nothing while the client sees a server, even after a blip', async () => {
    const handle = await connectMongo(mongoUrl(), {
      dbName: uniqueName('watchdog_up'),
      stuckAfterMs: 300,
    });
    handles.push(handle);
    const close = vi.spyOn(handle.client, 'close');
    // Down, then back before the watchdog's patience runs out.
    handle.client.emit('topologyDescriptionChanged', allDown);
    handle.client.emit('topologyDescriptionChanged', {
      newDescription: { hasDataBearingServers: true },
    } as TopologyDescriptionChangedEvent);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(close).not.toHaveBeenCalled();
  });
});
