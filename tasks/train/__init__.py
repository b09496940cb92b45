"""Model training recipes (torchtune style: config -> data window -> train -> evaluate
vs baseline on the same holdout -> save artefact -> register).

- ``recommender``, ``session_intent``, ``demand_forecaster``, ``risk``: one recipe each,
  ``train(as_of_date, run_id) -> TrainResult``.
- ``common`` (configs, device, seeding, artefacts), ``registry`` (ml.model_registry,
  ml.evaluations, promotion), ``pipeline.train_if_due`` (the Airflow entry point).

Submodules import torch; import them inside task callables, not at DAG parse time.
"""
