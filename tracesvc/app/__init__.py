"""The application shell: configuration, wiring of the servers, the command line, the demo and
document import. It stands above every other room and nothing imports it but itself."""
