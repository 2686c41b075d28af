"""NIR-VIS benchmark evaluation, model-independent: features come from a ``model_fn`` callable.

Modules: ``metrics`` (rank-1, ROC, VR@FAR, EER, AUC, fold summaries), ``features`` (flip-summed,
L2-normalised embeddings, cosine scores), ``benchmarks`` (native-layout protocol loaders: casia,
lamp_hq, oulu, buaa, synthetic, vis_bin), ``run`` (``evaluate_benchmark``), ``report``
(``write_report``), ``cli`` (``nirvis eval``), ``fixtures`` (tiny data sets in each native layout,
for tests).
"""
