/**
 * The one place that imports TensorFlow.js. `@tensorflow/tfjs` (the union package) is used rather than tfjs-core
 * alone because only its Node bundle registers the gradient functions that training needs.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor3D = tf.Tensor3D;
export type Variable = tf.Variable;
