/**
 * The embedded broker's packet size limit. aedes hands every byte to mqtt-packet, which buffers a whole packet before
 * anyone sees it, so a client announcing a 100 MB PUBLISH makes the hub hold 100 MB. This stream sits between the
 * socket and aedes, reads only the fixed headers (type byte + variable-length "remaining length", MQTT 3.1.1 §2.2.3),
 * passes the bytes through unchanged and destroys the connection as soon as a header announces a packet over the
 * limit, before its body arrives.
 */
import { Duplex, pipeline, Transform, type TransformCallback } from 'node:stream';

export class PacketTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`MQTT packet of ${size} bytes is over the broker's ${limit}-byte limit`);
  }
}

export class PacketGuard extends Transform {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private headerBytes = 0;
  private remaining = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skip = Math.min(this.remaining, chunk.length - i);
        this.remaining -= skip;
        i += skip;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++] as number;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.headerBytes = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.headerBytes++;
      if (this.headerBytes > 5) return done(new Error('malformed MQTT remaining length'));
      if ((byte & 0x80) !== 0) continue;
      const size = this.headerBytes + this.length;
      if (size > this.limit) return done(new PacketTooLargeError(size, this.limit));
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    done(null, chunk);
  }
}

/** `socket` as aedes should see it: reads through a PacketGuard, writes straight through. */
export function guardedConnection(socket: Duplex, limit: number, onError: (err: Error) => void): Duplex {
  const guard = new PacketGuard(limit);
  pipeline(socket, guard, (err) => {
    if (err !== undefined && err !== null) {
      onError(err);
      socket.destroy();
    }
  });
  return Duplex.from({ readable: guard, writable: socket });
}
