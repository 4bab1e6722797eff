# `cmake --install` layout and the CPack .deb (issue 8; docs/deployment.md).
# Included from the top-level CMakeLists.txt after every target exists.
#
#   <prefix>/bin                          pedserver, pedclient (when built), pedtool
#   <prefix>/lib/systemd/system           pedserver.service, pedserver.socket, pedclient.service
#   <prefix>/lib/sysusers.d               rped.conf (users), rped-ped.conf (group)
#   <prefix>/lib/udev/rules.d             70-rped-ped.rules
#   /etc/pedserver, /etc/pedclient        default configs (RPED_CONFIG_DIR)
#   <prefix>/share/man/man8               pedserver.8 (pedclient.8), from -help
#   <prefix>/share/doc/rped               deployment.md, pedserver.md, architecture.md
include(GNUInstallDirs)

# The units read /etc/<daemon>/<daemon>.conf (ConfigurationDirectory=), whatever the prefix.
set(RPED_CONFIG_DIR /etc CACHE PATH "Where the default configs are installed (the units expect /etc)")
set(CMAKE_INSTALL_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/rped)

set(RPED_DAEMONS pedserver)
if(TARGET pedclient)
  list(APPEND RPED_DAEMONS pedclient)
endif()
install(TARGETS ${RPED_DAEMONS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET pedtool)
  install(TARGETS pedtool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The units name /usr/bin; another prefix gets its own path in ExecStart=,
# decided at install time (`cmake --install --prefix`, CPack's /usr).
set(RPED_UNITS pedserver.service pedserver.socket)
if(TARGET pedclient)
  list(APPEND RPED_UNITS pedclient.service)
endif()
foreach(unit ${RPED_UNITS})
  set(source ${CMAKE_CURRENT_LIST_DIR}/systemd/${unit})
  install(CODE "
    set(unit_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
    file(READ \"${source}\" text)
    string(REPLACE \"ExecStart=/usr/bin/\" \"ExecStart=\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" text \"\${text}\")
    file(MAKE_DIRECTORY \"\${unit_dir}\")
    file(WRITE \"\${unit_dir}/${unit}\" \"\${text}\")
    message(STATUS \"Installing: \${unit_dir}/${unit}\")")
endforeach()
install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/rped-users.conf
        DESTINATION lib/sysusers.d RENAME rped.conf)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/udev/rped-ped-group.conf
        DESTINATION lib/sysusers.d RENAME rped-ped.conf)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/udev/70-rped-ped.rules
        DESTINATION lib/udev/rules.d)
foreach(daemon ${RPED_DAEMONS})
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/config/${daemon}.conf
          DESTINATION ${RPED_CONFIG_DIR}/${daemon})
  # The man page is the -help text, so it cannot drift from the options.
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/man/${daemon}.8
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/help-to-man $<TARGET_FILE:${daemon}> ${daemon} 8
            ${CMAKE_BINARY_DIR}/man/${daemon}.8
    DEPENDS ${daemon} ${PROJECT_SOURCE_DIR}/scripts/help-to-man
    COMMENT "man page ${daemon}.8 from '${daemon} -help'")
  add_custom_target(${daemon}_man ALL DEPENDS ${CMAKE_BINARY_DIR}/man/${daemon}.8)
  install(FILES ${CMAKE_BINARY_DIR}/man/${daemon}.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endforeach()
foreach(doc deployment.md pedserver.md pedclient.md architecture.md)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc})
    install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()

# --- the .deb -------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rped)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Remote PED maintainers <rped@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Remote PED server and client (pedserver, pedclient) as systemd services")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # libssl3, libusb-1.0-0, libsystemd0, ... from the binaries
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd, udev")
# Files under /etc are conffiles; maintainer scripts create users, enable nothing.
set(RPED_CONFFILES "")
foreach(daemon ${RPED_DAEMONS})
  string(APPEND RPED_CONFFILES "${RPED_CONFIG_DIR}/${daemon}/${daemon}.conf\n")
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles "${RPED_CONFFILES}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/debian/postinst ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
    ${CMAKE_CURRENT_LIST_DIR}/debian/postrm ${CMAKE_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
