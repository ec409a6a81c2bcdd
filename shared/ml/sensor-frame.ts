/**
 * A site's sensors may be mounted turned: the same 3-axis accelerometer and gyroscope, worn or fixed a few tens of
 * degrees round the vertical from where the source sites had them. Batch-norm statistics re-centre and re-scale each
 * channel but cannot undo a turn, which mixes channels. Turning every 3-axis group of channels by the same angle about
 * one axis is a linear map of the input channels, so it folds into the first convolution's weights: a turned model is
 * an ordinary model of the same shape, and an agent runs it as any other.
 *
 * The axis is the site's own vertical: the axis of the group with the largest static (mean) vector, i.e. gravity on
 * an accelerometer that keeps it. A site without such a group (no 3-axis channels, or all high-passed) is not turned.
 * Which angle fits a site is chosen without labels by site-adapt.ts (docs/adaptation.md §1.5).
 */
import { ErrorCode, SitekdError } from '../errors';
import type { Cnn } from './cnn';
import { constantVar } from './params';
import { tf } from './tf';
import type { WindowSet } from './types';

/** Channel indices of one 3-axis sensor, in x, y, z order. */
export type AxisGroup = readonly [number, number, number];

/** Where a site's turn is searched: the 3-axis groups (all in one device frame) and the angles tried. */
export interface FrameSearch {
  readonly groups: readonly AxisGroup[];
  /** Largest turn tried either way, in degrees (0: none). */
  readonly maxDegrees: number;
  /** Step between the angles tried, in degrees. */
  readonly stepDegrees: number;
}

/** A turn: `degrees` about axis `axis` (0 x, 1 y, 2 z) of every group. */
export interface Turn {
  readonly axis: 0 | 1 | 2;
  readonly degrees: number;
}

/** `+20° about x`, for logs and reports. */
export function describeTurn(t: Turn): string {
  return `${t.degrees > 0 ? '+' : ''}${t.degrees}° about ${'xyz'[t.axis]}`;
}

/**
 * The 3-axis groups named by the data set's channel names: every `<prefix>x`, `<prefix>y`, `<prefix>z` triple
 * (case-insensitive, e.g. `total_acc_x`). Channels of no complete triple are left out.
 */
export function axisGroups(channelNames: readonly string[]): AxisGroup[] {
  const byPrefix = new Map<string, [number, number, number]>();
  channelNames.forEach((name, i) => {
    const m = /^(.*?)([xyz])$/i.exec(name);
    if (m === null) return;
    const prefix = m[1]!.toLowerCase();
    const slot = 'xyz'.indexOf(m[2]!.toLowerCase());
    const g = byPrefix.get(prefix) ?? [-1, -1, -1];
    g[slot] = i;
    byPrefix.set(prefix, g);
  });
  return [...byPrefix.values()].filter((g) => g.every((i) => i >= 0)).map((g) => [g[0], g[1], g[2]] as const);
}

/**
 * The site's vertical: the axis of largest mean of the group whose mean vector is longest, when that vector is at
 * least half the group's root-mean-square magnitude (a static component, as gravity, dominates); otherwise undefined.
 */
export function verticalAxis(ws: WindowSet, groups: readonly AxisGroup[]): 0 | 1 | 2 | undefined {
  let best: { norm: number; axis: 0 | 1 | 2 } | undefined;
  for (const g of groups) {
    const mean = [0, 0, 0];
    let power = 0;
    g.forEach((ch, a) => {
      for (let i = 0; i < ws.n; i++) {
        const row = ws.x.subarray((i * ws.channels + ch) * ws.length, (i * ws.channels + ch + 1) * ws.length);
        for (const v of row) {
          mean[a]! += v;
          power += v * v;
        }
      }
    });
    const count = ws.n * ws.length;
    const m = mean.map((v) => v / count);
    const norm = Math.hypot(...m);
    if (!(norm >= 0.5 * Math.sqrt(power / count))) continue;
    const axis = m.reduce((b, v, a) => (Math.abs(v) > Math.abs(m[b]!) ? a : b), 0) as 0 | 1 | 2;
    if (best === undefined || norm > best.norm) best = { norm, axis };
  }
  return best?.axis;
}

/** The angles tried: 0 first, then outward in both directions (so a tie keeps the smaller turn). */
export function searchAngles(s: Pick<FrameSearch, 'maxDegrees' | 'stepDegrees'>): number[] {
  if (!(s.stepDegrees > 0)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `a turn's step must be positive, got ${s.stepDegrees}`);
  const out = [0];
  for (let d = s.stepDegrees; d <= s.maxDegrees + 1e-9; d += s.stepDegrees) out.push(d, -d);
  return out;
}

/**
 * A turn as the 2-D rotation it applies: cosine, sine, and the slots (0 x, 1 y, 2 z) of the two axes it moves, in the
 * order that makes a positive angle right-handed.
 */
function rotation(turn: Turn): { c: number; s: number; a: number; b: number } {
  const rad = (turn.degrees * Math.PI) / 180;
  const [a, b] = turn.axis === 0 ? [1, 2] : turn.axis === 1 ? [2, 0] : [0, 1];
  return { c: Math.cos(rad), s: Math.sin(rad), a, b };
}

/**
 * A copy of `net` that sees its input turned: `net'(x) = net(R x)` with R the turn of every group, folded into the
 * first convolution (`W'[k, p] = c·W[k, p] + s·W[k, q]`, `W'[k, q] = −s·W[k, p] + c·W[k, q]`). Only that weight is new;
 * the other variables are `net`'s own (dispose only `fe.conv1.w` of the copy).
 */
export function turnedInput(net: Cnn, groups: readonly AxisGroup[], turn: Turn): Cnn {
  const w = net.vars['fe.conv1.w'];
  if (w === undefined) throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, 'cnn has no first convolution');
  const [k, cin, cout] = w.shape as [number, number, number];
  const src = w.dataSync() as Float32Array;
  const data = Float32Array.from(src);
  const { c, s, a, b } = rotation(turn);
  for (const g of groups) {
    const [p, q] = [g[a]!, g[b]!];
    if (p >= cin || q >= cin) throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `channel ${Math.max(p, q)} of a 3-axis group is beyond the model's ${cin}`);
    for (let t = 0; t < k; t++) {
      for (let o = 0; o < cout; o++) {
        const ip = (t * cin + p) * cout + o;
        const iq = (t * cin + q) * cout + o;
        data[ip] = c * src[ip]! + s * src[iq]!;
        data[iq] = -s * src[ip]! + c * src[iq]!;
      }
    }
  }
  const turned = constantVar([k, cin, cout], 0, 'fe.conv1.w', w.trainable);
  tf.tidy(() => turned.assign(tf.tensor3d(data, [k, cin, cout])));
  return { ...net, vars: { ...net.vars, 'fe.conv1.w': turned } };
}

/** Windows turned as turnedInput turns a model's view of them (tests and benchmarks: `net'(x) = net(turnWindows(x))`). */
export function turnWindows(ws: WindowSet, groups: readonly AxisGroup[], turn: Turn): WindowSet {
  const x = Float32Array.from(ws.x);
  const { c, s, a, b } = rotation(turn);
  for (let i = 0; i < ws.n; i++) {
    for (const g of groups) {
      const p = (i * ws.channels + g[a]!) * ws.length;
      const q = (i * ws.channels + g[b]!) * ws.length;
      for (let t = 0; t < ws.length; t++) {
        const [xp, xq] = [ws.x[p + t]!, ws.x[q + t]!];
        x[p + t] = c * xp - s * xq;
        x[q + t] = s * xp + c * xq;
      }
    }
  }
  return { ...ws, x };
}
