// One AMI message as it came off the wire (res-corosync.md §2.1, asterisk-groundtruth.md
// §2): an ordered list of `Key: Value` headers, ended on the wire by an empty line.
// Asterisk matches header names case-insensitively (manager.c astman_get_header; the
// ground truth confirmed `action: ping` works), so lookups here do too, while `headers`
// keeps the names exactly as sent. Repeated names are kept in order because some
// replies rely on them: a `Command` response carries one `Output:` header per line.

/** One header line: the name as sent and the value after `: `. */
export type AmiHeader = readonly [name: string, value: string];

export class AmiMessage {
  /** Every header in wire order, names as sent. */
  readonly headers: readonly AmiHeader[];

  constructor(headers: readonly AmiHeader[]) {
    this.headers = headers;
  }

  /** The value of the first header with this name (case-insensitive), or undefined. */
  get(name: string): string | undefined {
    const wanted = name.toLowerCase();
    for (const [key, value] of this.headers) {
      if (key.toLowerCase() === wanted) return value;
    }
    return undefined;
  }

  /** Every value of this header name (case-insensitive), in wire order. */
  getAll(name: string): string[] {
    const wanted = name.toLowerCase();
    const values: string[] = [];
    for (const [key, value] of this.headers) {
      if (key.toLowerCase() === wanted) values.push(value);
    }
    return values;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** An event: the message has an `Event:` header (unsolicited, or a list item). */
  isEvent(): boolean {
    return this.has('Event');
  }

  /** A reply to an action: the message has a `Response:` header (Success, Error, Goodbye, …). */
  isResponse(): boolean {
    return this.has('Response');
  }

  /** `Event:` value, e.g. DeviceStateChange. */
  get event(): string | undefined {
    return this.get('Event');
  }

  /** `Response:` value: Success, Error, Goodbye (Logoff), Follows (Asterisk < 14 only). */
  get response(): string | undefined {
    return this.get('Response');
  }

  get actionId(): string | undefined {
    return this.get('ActionID');
  }

  /** `Message:` value, the human-readable reason of most responses. */
  get message(): string | undefined {
    return this.get('Message');
  }

  /** The message as wire text (CRLF lines plus the empty line); for logs and test servers. */
  toString(): string {
    return this.headers.map(([key, value]) => `${key}: ${value}\r\n`).join('') + '\r\n';
  }
}
