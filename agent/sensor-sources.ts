/**
 * The sensor topics an agent reads and how their values map onto the model's channels, checked once at construction:
 * misconfiguration (unknown channel names, a channel fed by two topics or by none) throws CONFIG_INVALID here rather
 * than dropping every message later.
 */
import { ErrorCode, SitekdError } from '../shared/errors';

export type SensorFormat = 'auto' | 'json' | 'msgpack' | 'csv';

/**
 * A sensor topic and what its values mean, in the order the sensor sends them: a model channel name, a model channel
 * index, or `null` for a value the model does not use (e.g. a temperature column next to the accelerometer).
 */
export interface SensorSource {
  topic: string;
  channels: readonly (string | number | null)[];
  format?: SensorFormat;
}

/** A source ready for decoding: where each value the sensor sends goes. */
export interface CompiledSource {
  topic: string;
  format: SensorFormat;
  /** Per value the sensor sends: the position in `Reading.values`, or -1 to skip it. */
  slot: Int32Array;
  /** Model channel names of the kept values, in `Reading.values` order (for the `channels` object and CSV headers). */
  names: readonly string[];
  width: number;
}

export function compileSources(
  modelChannels: readonly string[],
  sources: readonly SensorSource[],
): Array<{ source: CompiledSource; modelChannels: number[] }> {
  if (modelChannels.length === 0 || new Set(modelChannels).size !== modelChannels.length) {
    throw configError('model channel names must be non-empty and unique', { channels: modelChannels });
  }
  const owner = new Map<number, string>();
  const topics = new Set<string>();
  const out = sources.map((s) => {
    if (s.topic === '' || /[+#]/.test(s.topic) || topics.has(s.topic)) {
      throw configError('each sensor topic must be a distinct topic without wildcards', { topic: s.topic });
    }
    topics.add(s.topic);
    const slot = new Int32Array(s.channels.length).fill(-1);
    const model: number[] = [];
    s.channels.forEach((ch, i) => {
      if (ch === null) return;
      const idx = typeof ch === 'number' ? ch : modelChannels.indexOf(ch);
      if (!Number.isInteger(idx) || idx < 0 || idx >= modelChannels.length) {
        throw configError(`unknown channel ${String(ch)} on ${s.topic}`, { topic: s.topic, channel: ch });
      }
      const prior = owner.get(idx);
      if (prior !== undefined) throw configError(`channel ${modelChannels[idx]} fed by both ${prior} and ${s.topic}`, { topic: s.topic });
      owner.set(idx, s.topic);
      slot[i] = model.length;
      model.push(idx);
    });
    if (model.length === 0) throw configError(`topic ${s.topic} feeds no model channel`, { topic: s.topic });
    const names = model.map((m) => modelChannels[m] as string);
    return { source: { topic: s.topic, format: s.format ?? 'auto', slot, names, width: model.length }, modelChannels: model };
  });
  const unfed = modelChannels.filter((_, i) => !owner.has(i));
  // A channel nobody feeds would keep every grid point incomplete: no window would ever be cut.
  if (unfed.length > 0) throw configError(`no sensor topic feeds ${unfed.join(', ')}`, { channels: unfed });
  return out;
}

export function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw configError(`${name} must be a positive integer`, { [name]: v });
  return v;
}

function configError(message: string, details: Record<string, unknown>): SitekdError {
  return new SitekdError(ErrorCode.CONFIG_INVALID, message, { details });
}
