# Installing samizdat as a service. Included by the top-level CMakeLists.txt
# (not for SZ_PROTO_ONLY). The binaries install themselves: samizdat (target
# samizdat-cli) to ${CMAKE_INSTALL_BINDIR} in client/CMakeLists.txt, samizdatd
# to ${CMAKE_INSTALL_SBINDIR} in daemon/CMakeLists.txt. This file adds:
#
#   man pages (built with scdoc, part of `all`)   ${CMAKE_INSTALL_MANDIR}/man1, man5, man8
#   the commented example configuration           ${CMAKE_INSTALL_DOCDIR}/examples/samizdatd.conf
#   the service's configuration file              SYSCONFDIR/samizdat/samizdatd.conf
#       (/etc for the prefix /usr; installed only when missing, never overwritten)
#   the systemd unit samizdatd.service            ${SZ_SYSTEMD_UNIT_DIR}
#
# The unit and the configuration file are written at install time, so that
# `cmake --install BUILD --prefix P` (and DESTDIR) put the right paths in the
# unit's ExecStart. The test tests/install/install_test.sh checks the layout.

find_program(SZ_SCDOC scdoc DOC "scdoc, which builds the man pages")
if(NOT SZ_SCDOC)
    message(FATAL_ERROR
        "scdoc was not found; it builds the man pages. Install it with "
        "`apt-get install scdoc` (Debian, Ubuntu), or pass -DSZ_SCDOC=/path/to/scdoc.")
endif()

set(SZ_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where samizdatd.service is installed: relative to the install prefix (the default, \
lib/systemd/system, is ${CMAKE_INSTALL_PREFIX}/lib/systemd/system), or an absolute path")

# ---- man pages ----
set(SZ_MAN_OUTPUTS "")
foreach(page samizdat.1 samizdatd.8 samizdatd.conf.5)
    string(REGEX MATCH "[0-9]$" section "${page}")
    set(src ${PROJECT_SOURCE_DIR}/man/${page}.scd)
    set(out ${PROJECT_BINARY_DIR}/man/${page})
    # scdoc reads stdin and writes stdout; the page appears only when it succeeded.
    add_custom_command(
        OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
        COMMAND sh -c "\"$1\" < \"$2\" > \"$3.tmp\" && mv -f \"$3.tmp\" \"$3\""
                sh ${SZ_SCDOC} ${src} ${out}
        DEPENDS ${src}
        COMMENT "Building man page ${page} with scdoc"
        VERBATIM)
    list(APPEND SZ_MAN_OUTPUTS ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${SZ_MAN_OUTPUTS})

# ---- the example configuration, as documentation ----
install(FILES ${PROJECT_SOURCE_DIR}/examples/samizdatd.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# ---- the service: its configuration file and its unit, written at install time ----
install(CODE "
set(SZ_SERVICE_SRC \"${PROJECT_SOURCE_DIR}/dist/samizdatd.service\")
set(SZ_EXAMPLE_CONF \"${PROJECT_SOURCE_DIR}/examples/samizdatd.conf\")
set(SZ_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
set(SZ_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
set(SZ_UNIT_DIR \"${SZ_SYSTEMD_UNIT_DIR}\")
")
install(CODE [==[
# Installed paths (what the running system sees, without DESTDIR), from the
# prefix of this install run. SYSCONFDIR follows GNUInstallDirs: /etc for the
# prefixes / and /usr, /etc/opt/X for /opt/X, else PREFIX/etc.
string(REGEX REPLACE "/+$" "" _sz_prefix "${CMAKE_INSTALL_PREFIX}")
if(IS_ABSOLUTE "${SZ_SBINDIR}")
    set(_sz_sbin "${SZ_SBINDIR}")
else()
    set(_sz_sbin "${_sz_prefix}/${SZ_SBINDIR}")
endif()
if(IS_ABSOLUTE "${SZ_SYSCONFDIR}")
    set(_sz_etc "${SZ_SYSCONFDIR}")
elseif(_sz_prefix STREQUAL "" OR _sz_prefix STREQUAL "/usr")
    set(_sz_etc "/etc")
elseif(_sz_prefix MATCHES "^/opt/(.+)$")
    set(_sz_etc "/etc/opt/${CMAKE_MATCH_1}")
else()
    set(_sz_etc "${_sz_prefix}/${SZ_SYSCONFDIR}")
endif()
if(IS_ABSOLUTE "${SZ_UNIT_DIR}")
    set(_sz_unit_dir "${SZ_UNIT_DIR}")
else()
    set(_sz_unit_dir "${_sz_prefix}/${SZ_UNIT_DIR}")
endif()
set(_sz_conf "${_sz_etc}/samizdat/samizdatd.conf")

# sz_install_text(VAR DIR NAME): installs the text in variable VAR as DIR/NAME, mode 0644 whatever
# the umask (the service's dynamic user must read it). DIR is the installed
# path; file(INSTALL) adds DESTDIR, prints the line and records the manifest.
# A macro, not a function: the manifest list lives in this scope.
macro(sz_install_text _var _dir _name)
    file(WRITE "$ENV{DESTDIR}${_dir}/.${_name}.tmp" "${${_var}}")
    file(INSTALL "$ENV{DESTDIR}${_dir}/.${_name}.tmp" DESTINATION "${_dir}" RENAME "${_name}"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    file(REMOVE "$ENV{DESTDIR}${_dir}/.${_name}.tmp")
endmacro()

# The configuration file of the service: the example with data_dir set to the
# service's state directory. An existing file is the admin's: never replaced.
if(EXISTS "$ENV{DESTDIR}${_sz_conf}")
    message(STATUS "Keeping existing: $ENV{DESTDIR}${_sz_conf}")
else()
    file(READ "${SZ_EXAMPLE_CONF}" _sz_text)
    string(REGEX REPLACE "\n#data_dir =[^\n]*\n"
           "\n# samizdatd.service passes --data-dir /var/lib/samizdat, its state directory.\ndata_dir = /var/lib/samizdat\n"
           _sz_new "${_sz_text}")
    if(_sz_new STREQUAL _sz_text)
        message(FATAL_ERROR "examples/samizdatd.conf has no '#data_dir =' line to set")
    endif()
    sz_install_text(_sz_new "${_sz_etc}/samizdat" samizdatd.conf)
endif()

# The unit, with ExecStart pointing at the installed binary and config file.
file(READ "${SZ_SERVICE_SRC}" _sz_text)
string(REPLACE "/usr/sbin/samizdatd" "${_sz_sbin}/samizdatd" _sz_text "${_sz_text}")
string(REPLACE "/etc/samizdat/samizdatd.conf" "${_sz_conf}" _sz_text "${_sz_text}")
sz_install_text(_sz_text "${_sz_unit_dir}" samizdatd.service)
]==])
