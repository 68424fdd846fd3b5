/**
 * Readers of model files, in pure Java and memory-mapped, so weights are views of the file rather than copies.
 *
 * <ul>
 *   <li>{@link io.attn4j.models.format.OnnxModel}: an ONNX model's initializers, nodes, inputs and outputs, read
 *       by {@link io.attn4j.models.format.Protobuf}, a wire-format reader of our own (no protobuf-java);
 *       {@link io.attn4j.models.format.OnnxEncoderGraph} infers heads, layer-norm epsilon and the names of the
 *       linear weights from an exported encoder's graph.</li>
 *   <li>{@link io.attn4j.models.format.SafeTensors}: the safetensors reader and the F32 writer of attn4j's
 *       caches.</li>
 *   <li>{@link io.attn4j.models.format.HfConfig}: a Hugging Face {@code config.json}.</li>
 * </ul>
 *
 * A file that is truncated, corrupt or out of what a reader accepts throws
 * {@link io.attn4j.models.format.ModelFormatException} (an {@code IllegalArgumentException}) naming the file,
 * the field, the value and what is allowed; no declared length is trusted before it is checked against the bytes
 * that remain.
 */
package io.attn4j.models.format;
