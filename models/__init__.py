"""The model layer: llama.cpp in a runner process, grammars, catalog, conversion, test models."""
