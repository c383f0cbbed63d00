import { describe, expect, it } from 'vitest';
import { upstreamHeaders } from '../../src/proxy/upstreams.js';

const request = { id: 'req-1', ip: '203.0.113.9', protocol: 'https' as const, auth: undefined };
const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('upstreamHeaders and W3C trace context', () => {
  it("passes the client's traceparent/tracestate through when the gateway does not trace", () => {
    const out = upstreamHeaders(request, { traceparent, tracestate: 'a=b', accept: '*/*' });
    expect(out).toMatchObject({ traceparent, tracestate: 'a=b', accept: '*/*' });
  });

  it('drops them when the gateway traces (its proxy span sends its own, one trace not two)', () => {
    const out = upstreamHeaders(request, { traceparent, TraceState: 'a=b', accept: '*/*' }, true);
    expect(out).not.toHaveProperty('traceparent');
    expect(out).not.toHaveProperty('TraceState');
    expect(out).toMatchObject({ accept: '*/*', 'x-request-id': 'req-1' });
  });
});
