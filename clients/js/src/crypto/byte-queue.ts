/** Bytes read from a stream, taken off the front in exact lengths (one chunk at a time). */
export class ByteQueue {
  private pieces: Uint8Array[] = [];
  private offset = 0;
  length = 0;
  private done = false;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Reads until at least `n` bytes are queued or the source ends; true when there are `n`. */
  async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const r = await this.reader.read();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.pieces.push(r.value);
        this.length += r.value.length;
      }
    }
    return this.length >= n;
  }

  /** The first `n` bytes (call `fill(n)` first), removed from the queue. */
  take(n: number): Uint8Array {
    if (n > this.length) throw new RangeError('ByteQueue.take past the end');
    const out = new Uint8Array(n);
    let written = 0;
    while (written < n) {
      const piece = this.pieces[0] as Uint8Array;
      const available = piece.length - this.offset;
      const count = Math.min(available, n - written);
      out.set(piece.subarray(this.offset, this.offset + count), written);
      written += count;
      this.offset += count;
      if (this.offset === piece.length) {
        this.pieces.shift();
        this.offset = 0;
      }
    }
    this.length -= n;
    return out;
  }

  cancel(reason?: unknown): Promise<void> {
    this.pieces = [];
    this.length = 0;
    return this.reader.cancel(reason).catch(() => undefined);
  }
}
