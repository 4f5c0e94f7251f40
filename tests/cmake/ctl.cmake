# The control protocol codec (proto/ctl.c, proto/CONTROL.md).
sz_unit_test(test_ctl SOURCES test_ctl.c LIBS samizdat)
