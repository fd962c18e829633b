"""What the tests share: in-memory fakes of the ports, the fake AWS environment, the sandbox factory."""
