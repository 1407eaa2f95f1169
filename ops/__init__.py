"""Operations: the production topology on loopback and its load test (`make load`)."""
