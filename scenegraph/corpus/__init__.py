"""Corpus files into scenes and expressions, in three steps.

``read`` turns files into raw records that know their file and line; ``records`` holds the
three record shapes and validates each record once; ``build`` merges the records into one
consistent corpus, checking sub-scene links and collecting every problem.
"""

from .build import Corpus, CorpusBuilder, Parsed, Reject, parse
from .read import MAX_NESTING, MAX_VALUES, SUFFIXES, RawRecord, Where, problem, read_records
from .records import ExpressionIn, HyperlexemeRecord, PairRecord, SceneRecord

__all__ = [
    "MAX_NESTING",
    "MAX_VALUES",
    "SUFFIXES",
    "Corpus",
    "CorpusBuilder",
    "ExpressionIn",
    "HyperlexemeRecord",
    "PairRecord",
    "Parsed",
    "RawRecord",
    "Reject",
    "SceneRecord",
    "Where",
    "parse",
    "problem",
    "read_records",
]
