"""The iotpipe command line and the demo launcher: thin calls into each folder."""
