"""The runner side: every module that imports llama_cpp, loaded only inside the runner process.

The app never imports this package (tests/models/test_runner.py checks it): it talks to a runner
through models/runner_client.py, and llama.cpp crashing takes down only the runner.
"""
