//! OTTL parser and evaluator tests.
