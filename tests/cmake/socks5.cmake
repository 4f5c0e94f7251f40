# The SOCKS5 client handshake codec (proto/socks5.c: RFC 1928 CONNECT, RFC 1929).
sz_unit_test(test_socks5 SOURCES test_socks5.c LIBS samizdat)
