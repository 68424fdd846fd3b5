/**
 * Real models on attn4j: model file formats, tokenizers, runtimes, and where models and corpora come from.
 *
 * <ul>
 *   <li>{@code io.attn4j.models.format}: readers of weight files — ONNX initializers (a protobuf reader of our own)
 *       and memory-mapped safetensors — into named {@link io.attn4j.tensor.Tensor}s.</li>
 *   <li>{@code io.attn4j.models.tokenizer}: Hugging Face {@code tokenizer.json} tokenizers (BERT WordPiece).</li>
 *   <li>{@code io.attn4j.models.bert}: the BERT-family encoder runtime with pluggable attention.</li>
 *   <li>{@code io.attn4j.models.hub}: model and corpus resolution, download, checksums and the cache.</li>
 *   <li>{@code io.attn4j.models.corpus}: the texts benchmarks run on: the Brown corpus, directories of text files,
 *       passages short enough for an encoder.</li>
 * </ul>
 */
package io.attn4j.models;
