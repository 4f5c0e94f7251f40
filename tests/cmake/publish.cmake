# The publishing batcher (daemon/publish.c) in-process: a hand-built daemon, its
# control socket on the test's loop, and client threads that publish through it.
if(NOT TARGET szdaemon OR NOT TARGET szclient)
    return()
endif()

find_package(Threads REQUIRED)
sz_unit_test(test_publish SOURCES test_publish.c LIBS szdaemon szclient)
target_link_libraries(test_publish PRIVATE Threads::Threads)
