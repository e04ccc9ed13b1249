// Reads Prometheus text exposition for the metrics tests (unit and daemon): samples by
// `name{labels}` as printed, and the `# TYPE` of each family.

export interface Exposition {
  /** `name{labels}` (labels as printed) → value. */
  readonly samples: Map<string, number>;
  /** Families with a # TYPE line: name → type. */
  readonly types: Map<string, string>;
}

export function parseExposition(text: string): Exposition {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (name !== undefined && type !== undefined) types.set(name, type);
    } else if (line !== '' && !line.startsWith('#')) {
      const at = line.lastIndexOf(' ');
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return { samples, types };
}
