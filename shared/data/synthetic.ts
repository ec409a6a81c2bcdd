/**
 * Seeded synthetic multi-site data for tests and demos: activity-like multichannel windows whose
 * distribution shifts from site to site the way wearable data shifts from person to person.
 *
 * Signal model (per window of class k, channels grouped in xyz triples, leftovers are scalar):
 *   motion_c(t) = a · A_kc · Σ_h w_kch · sin(2π·h·f·t/fs + h·φ + ψ_kch)   (h = 1..3 harmonics)
 *   - "dynamic" classes (the first ceil(K/2), like walk/upstairs/downstairs) move at class-specific
 *     cadences f_k ≈ 1.4–2.5 Hz with sizeable amplitudes; "static" classes (sit/stand/lie) barely move
 *     and differ mainly in the direction of gravity.
 *   - If there are ≥ 2 triples the last one is "total acceleration" = triple 0's motion + gravity
 *     (like UCI total_acc = body_acc + gravity); with a single triple it carries its own motion +
 *     gravity. Gravity is a unit vector (1 g) per class, with a small per-window wobble.
 *   - Per window: random phase φ, cadence jitter ±4 %, amplitude jitter ±10 %, white noise.
 *
 * Site shift (site 0 is the unshifted source; site s ≥ 1 gets each knob × `shift`, see
 * {@link SyntheticShiftKnobs}): device orientation (one 3-D rotation applied to every triple, so
 * gravity moves between axes), per-channel gain and offset (sensor calibration), noise level,
 * rhythm (all cadences × one factor), motion intensity, and class priors (label shift).
 * Orientation mostly hurts the static classes and rhythm the dynamic ones, so a source-only model
 * loses accuracy on shifted sites while the class structure stays learnable (adaptation can help).
 *
 * Everything is a pure function of the spec: each site draws from its own seeded streams, so site s
 * is identical whatever the number of sites, and the class prototypes are shared by all sites.
 */
import { ErrorCode, SitekdError } from '../errors';
import type { Domain, WindowSet } from '../ml/types';
import { createRng, deriveSeed, type Rng } from '../random';

/** Strength of each kind of shift at `shift = 1` (all scale linearly with `shift`). */
export interface SyntheticShiftKnobs {
  /** Max device rotation in degrees (each site draws an angle in [½, 1] × this, random axis). */
  readonly rotationDeg: number;
  /** Std-dev of the per-channel relative gain error. */
  readonly gain: number;
  /** Std-dev of the per-channel offset (signal units, ~g). */
  readonly offset: number;
  /** Noise std-dev grows up to (1 + noise) × baseNoise. */
  readonly noise: number;
  /** Max relative rhythm change: cadences × (1 ± timeScale). */
  readonly timeScale: number;
  /** Std-dev of the relative motion intensity (how vigorously the person moves). */
  readonly intensity: number;
  /** Std-dev of log class-prior multipliers (0 = balanced classes at every site). */
  readonly labelSkew: number;
}

export interface SyntheticSpec {
  readonly seed: number;
  /** Number of sites; site 0 is the unshifted source. */
  readonly sites: number;
  readonly channels: number;
  readonly length: number;
  readonly numClasses: number;
  /** Windows per class at a balanced site (label skew changes this per site). */
  readonly trainPerClass: number;
  readonly testPerClass: number;
  /** Overall shift strength 0..1 (0 = all sites identically distributed). */
  readonly shift: number;
  /** Default 50 Hz (only sets the time axis of the cadences). */
  readonly samplingRateHz?: number;
  /** Noise std-dev at the source site, default 0.05. */
  readonly baseNoise?: number;
  readonly knobs?: Partial<SyntheticShiftKnobs>;
}

export const defaultShiftKnobs: SyntheticShiftKnobs = {
  rotationDeg: 45,
  gain: 0.25,
  offset: 0.1,
  noise: 2,
  timeScale: 0.25,
  intensity: 0.25,
  labelSkew: 0.4,
};

/** Presets: `harLike` mirrors UCI-HAR's shape (9 × 128 at 50 Hz, 6 classes); `tiny` is for fast tests. */
export const defaultSyntheticSpec: { readonly harLike: SyntheticSpec; readonly tiny: SyntheticSpec } = {
  harLike: { seed: 1, sites: 4, channels: 9, length: 128, numClasses: 6, trainPerClass: 40, testPerClass: 15, shift: 0.6, samplingRateHz: 50 },
  tiny: { seed: 1, sites: 3, channels: 3, length: 32, numClasses: 3, trainPerClass: 12, testPerClass: 6, shift: 0.5, samplingRateHz: 25 },
};

const HARMONICS = 3;

interface ClassProto {
  readonly freq: number;
  /** Per channel: amplitude, harmonic weights, harmonic phases. */
  readonly amp: Float64Array;
  readonly weights: Float64Array; // [channel * HARMONICS + h]
  readonly phases: Float64Array;
  readonly gravity: readonly [number, number, number];
}

interface SiteShift {
  readonly rotation: Float64Array; // 3x3 row-major
  readonly gain: Float64Array;
  readonly offset: Float64Array;
  readonly noiseSd: number;
  readonly timeScale: number;
  readonly intensity: number;
  /** Multiplier of the per-class window counts. */
  readonly classWeight: Float64Array;
}

/** Generic class names (`class0`…) for writing synthetic data with writeDataset. */
export function syntheticClassNames(numClasses: number): string[] {
  return Array.from({ length: numClasses }, (_, k) => `class${k}`);
}

/** Channel names: xyz triples `s0_x, s0_y, s0_z, s1_x, …`, leftovers `aux0, aux1`. */
export function syntheticChannelNames(channels: number): string[] {
  return Array.from({ length: channels }, (_, c) => (c < 3 * Math.floor(channels / 3) ? `s${Math.floor(c / 3)}_${'xyz'[c % 3]}` : `aux${c - 3 * Math.floor(channels / 3)}`));
}

function checkSpec(spec: SyntheticSpec): void {
  const ints: Array<[string, number, number]> = [
    ['sites', spec.sites, 1],
    ['channels', spec.channels, 1],
    ['length', spec.length, 2],
    ['numClasses', spec.numClasses, 1],
    ['trainPerClass', spec.trainPerClass, 0],
    ['testPerClass', spec.testPerClass, 0],
  ];
  for (const [name, v, min] of ints) {
    if (!Number.isInteger(v) || v < min) throw new SitekdError(ErrorCode.CONFIG_INVALID, `synthetic ${name} must be an integer ≥ ${min}, got ${v}`);
  }
  if (spec.numClasses > 256) throw new SitekdError(ErrorCode.CONFIG_INVALID, 'synthetic numClasses must be ≤ 256 (uint8 labels)');
  if (!(spec.shift >= 0 && spec.shift <= 1)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `synthetic shift must be in [0, 1], got ${spec.shift}`);
  if (!Number.isFinite(spec.seed)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `synthetic seed must be finite, got ${spec.seed}`);
}

function unit(v: readonly [number, number, number]): [number, number, number] {
  const n = Math.hypot(v[0], v[1], v[2]) || 1;
  return [v[0] / n, v[1] / n, v[2] / n];
}

/** Gravity tilted `tiltDeg` away from +x (UCI's waist-worn phone has ~1 g on x) at a random azimuth. */
function tiltedGravity(tiltDeg: number, rng: Rng): [number, number, number] {
  const tilt = (tiltDeg * Math.PI) / 180;
  const az = rng.uniform(0, 2 * Math.PI);
  return [Math.cos(tilt), Math.sin(tilt) * Math.cos(az), Math.sin(tilt) * Math.sin(az)];
}

function makePrototypes(spec: SyntheticSpec): ClassProto[] {
  const rng = createRng(deriveSeed(spec.seed, 1));
  const k = spec.numClasses;
  const nDynamic = Math.ceil(k / 2);
  const nStatic = k - nDynamic;
  return Array.from({ length: k }, (_, c): ClassProto => {
    const dynamic = c < nDynamic;
    const amp = new Float64Array(spec.channels);
    const weights = new Float64Array(spec.channels * HARMONICS);
    const phases = new Float64Array(spec.channels * HARMONICS);
    for (let ch = 0; ch < spec.channels; ch++) {
      amp[ch] = dynamic ? rng.uniform(0.1, 0.5) : rng.uniform(0.005, 0.02);
      // Fundamental dominates; class-specific overtones give each activity its own waveform shape.
      weights[ch * HARMONICS] = 1;
      weights[ch * HARMONICS + 1] = rng.uniform(0, 0.6);
      weights[ch * HARMONICS + 2] = rng.uniform(0, 0.3);
      for (let h = 0; h < HARMONICS; h++) phases[ch * HARMONICS + h] = rng.uniform(0, 2 * Math.PI);
    }
    // Dynamic cadences spread evenly over 1.4–2.5 Hz; static classes only sway slowly.
    const freq = dynamic ? 1.4 + (1.1 * c) / Math.max(1, nDynamic - 1) + rng.uniform(-0.05, 0.05) : rng.uniform(0.2, 0.4);
    // Walking keeps the device near upright; static postures differ by tilt (stand ≈ 5°, …, lie ≈ 90°).
    const j = c - nDynamic;
    const tilt = dynamic ? rng.uniform(5, 15) : 5 + (85 * j) / Math.max(1, nStatic - 1);
    return { freq, amp, weights, phases, gravity: tiltedGravity(tilt, rng) };
  });
}

/** Rodrigues' rotation matrix for a unit axis and an angle in radians. */
function rotationMatrix(axis: readonly [number, number, number], angle: number): Float64Array {
  const [x, y, z] = axis;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const t = 1 - c;
  return Float64Array.from([t * x * x + c, t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c, t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c]);
}

function makeSiteShift(spec: SyntheticSpec, site: number): SiteShift {
  const knobs = { ...defaultShiftKnobs, ...spec.knobs };
  const strength = site === 0 ? 0 : spec.shift;
  const rng = createRng(deriveSeed(spec.seed, 2, site));
  const axis = unit([rng.normal(), rng.normal(), rng.normal()]);
  const angle = (strength * knobs.rotationDeg * rng.uniform(0.5, 1) * Math.PI) / 180;
  const gain = new Float64Array(spec.channels);
  const offset = new Float64Array(spec.channels);
  for (let c = 0; c < spec.channels; c++) {
    gain[c] = Math.max(0.3, 1 + strength * knobs.gain * rng.normal());
    offset[c] = strength * knobs.offset * rng.normal();
  }
  const classWeight = new Float64Array(spec.numClasses);
  for (let k = 0; k < spec.numClasses; k++) classWeight[k] = Math.exp(strength * knobs.labelSkew * rng.normal());
  const meanWeight = classWeight.reduce((a, b) => a + b, 0) / spec.numClasses;
  for (let k = 0; k < spec.numClasses; k++) classWeight[k] = (classWeight[k] as number) / meanWeight;
  return {
    rotation: rotationMatrix(axis, angle),
    gain,
    offset,
    noiseSd: (spec.baseNoise ?? 0.05) * (1 + strength * knobs.noise * rng.next()),
    timeScale: 1 + strength * knobs.timeScale * rng.uniform(-1, 1),
    intensity: Math.max(0.3, 1 + strength * knobs.intensity * rng.normal()),
    classWeight,
  };
}

/** Writes window `i` of class `proto` into `x` (layout [n, C, L]). */
function renderWindow(x: Float32Array, i: number, proto: ClassProto, site: SiteShift, spec: SyntheticSpec, rng: Rng): void {
  const { channels: C, length: L } = spec;
  const fs = spec.samplingRateHz ?? 50;
  const triples = Math.floor(C / 3);
  const f = proto.freq * site.timeScale * (1 + 0.04 * rng.normal());
  const phi = rng.uniform(0, 2 * Math.PI);
  const a = site.intensity * (1 + 0.1 * rng.normal());
  const g = unit([proto.gravity[0] + 0.03 * rng.normal(), proto.gravity[1] + 0.03 * rng.normal(), proto.gravity[2] + 0.03 * rng.normal()]);

  // Clean body-frame signal per channel.
  const clean = new Float64Array(C * L);
  for (let c = 0; c < C; c++) {
    // "total acceleration" (last triple, if there are ≥ 2) repeats triple 0's motion.
    const src = triples >= 2 && c >= 3 * (triples - 1) && c < 3 * triples ? c - 3 * (triples - 1) : c;
    for (let t = 0; t < L; t++) {
      let v = 0;
      for (let h = 0; h < HARMONICS; h++) {
        v += (proto.weights[src * HARMONICS + h] as number) * Math.sin((2 * Math.PI * (h + 1) * f * t) / fs + (h + 1) * phi + (proto.phases[src * HARMONICS + h] as number));
      }
      clean[c * L + t] = a * (proto.amp[src] as number) * v;
    }
  }
  if (triples >= 1) {
    const base = 3 * (triples - 1);
    for (let ax = 0; ax < 3; ax++) for (let t = 0; t < L; t++) clean[(base + ax) * L + t] = (clean[(base + ax) * L + t] as number) + (g[ax] as number);
  }
  // Device orientation: rotate every xyz triple, then per-channel calibration and noise.
  const R = site.rotation;
  const out = i * C * L;
  for (let c = 0; c < C; c++) {
    const tri = c < 3 * triples ? c - (c % 3) : -1;
    const row = c % 3;
    for (let t = 0; t < L; t++) {
      const v =
        tri < 0
          ? (clean[c * L + t] as number)
          : (R[row * 3] as number) * (clean[tri * L + t] as number) + (R[row * 3 + 1] as number) * (clean[(tri + 1) * L + t] as number) + (R[row * 3 + 2] as number) * (clean[(tri + 2) * L + t] as number);
      x[out + c * L + t] = (site.gain[c] as number) * v + (site.offset[c] as number) + site.noiseSd * rng.normal();
    }
  }
}

function makeWindowSet(spec: SyntheticSpec, protos: readonly ClassProto[], site: SiteShift, perClass: number, rng: Rng): WindowSet {
  const counts = protos.map((_, k) => (perClass === 0 ? 0 : Math.max(1, Math.round(perClass * (site.classWeight[k] as number)))));
  const labels: number[] = [];
  counts.forEach((n, k) => {
    for (let j = 0; j < n; j++) labels.push(k);
  });
  // Shuffle so consumers never see class-sorted batches.
  rng.shuffle(labels);
  const n = labels.length;
  const x = new Float32Array(n * spec.channels * spec.length);
  const y = Uint8Array.from(labels);
  labels.forEach((k, i) => renderWindow(x, i, protos[k] as ClassProto, site, spec, rng));
  return { n, channels: spec.channels, length: spec.length, x, y };
}

/** Domains `site-0` (source, unshifted) … `site-<sites-1>`, fully determined by `spec`. */
export function generateSites(spec: SyntheticSpec): Domain[] {
  checkSpec(spec);
  const protos = makePrototypes(spec);
  return Array.from({ length: spec.sites }, (_, s): Domain => {
    const shift = makeSiteShift(spec, s);
    const rng = createRng(deriveSeed(spec.seed, 3, s));
    return {
      id: `site-${s}`,
      train: makeWindowSet(spec, protos, shift, spec.trainPerClass, rng),
      test: makeWindowSet(spec, protos, shift, spec.testPerClass, rng),
    };
  });
}
