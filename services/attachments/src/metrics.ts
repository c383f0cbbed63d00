import { Counter, type Registry } from 'prom-client';

/** Domain counters an operator would graph, registered in the app's metrics registry. */
export function createAttachmentsMetrics(registry: Registry) {
  return {
    uploads: new Counter({
      name: 'attachments_uploads_total',
      help: 'PUT /attachments/{id} outcomes: created, existing, conflict, or the problem code',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    bytesStored: new Counter({
      name: 'attachments_bytes_stored_total',
      help: 'Bytes of attachment content committed to storage',
      registers: [registry],
    }),
    bytesServed: new Counter({
      name: 'attachments_bytes_served_total',
      help: 'Bytes of attachment content sent in GET responses (200 and 206)',
      registers: [registry],
    }),
    deletes: new Counter({
      name: 'attachments_deletes_total',
      help: 'Attachments deleted',
      registers: [registry],
    }),
    orphansRemoved: new Counter({
      name: 'attachments_orphans_removed_total',
      help: 'Files removed by the sweeper: content left by an upload or delete whose process died',
      registers: [registry],
    }),
    qiniuTokens: new Counter({
      name: 'attachments_qiniu_tokens_total',
      help: 'Qiniu upload tokens issued',
      registers: [registry],
    }),
    qiniuCallbacks: new Counter({
      name: 'attachments_qiniu_callbacks_total',
      help: 'Qiniu upload callbacks, by result (recorded, bad_signature, invalid)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}

export type AttachmentsMetrics = ReturnType<typeof createAttachmentsMetrics>;
