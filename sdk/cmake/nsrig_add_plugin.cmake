# nsrig_add_plugin(NAME SOURCES src... [OUTPUT_DIRECTORY dir] [INSTALL_DIR dir] [NO_INSTALL])
#
# Builds plugin NAME as a MODULE library named NAME.so (no "lib" prefix: the
# registry looks for <type>.so), with hidden visibility so only the entry
# point is exported, linked against nsrig::sdk only (undefined symbols are a
# link error). The CMake target is nsrig_plugin_NAME. `cmake --install`
# copies it to INSTALL_DIR unless NO_INSTALL is given. The default is where
# the nsrig found by find_package looks (NSRIG_PLUGIN_INSTALL_DIR), or
# <prefix>/<libdir>/nsrig/plugins in nsrig's own tree.
# NAME is the profile's `type` and must match the descriptor's name:
# [a-z0-9_-], 1 to 32 bytes.
if(NOT DEFINED CMAKE_INSTALL_LIBDIR)
  include(GNUInstallDirs)
endif()

#
# STATIC_RUNTIME (or the variable NSRIG_PLUGINS_STATIC_RUNTIME) links the C++
# runtime into the plugin (-static-libstdc++ -static-libgcc, its symbols
# hidden, its unused sections dropped with --gc-sections): when nsrig itself
# is built that way, a process that loads only such plugins never maps
# libstdc++.so, which saves about 3 ms per start on a VM (docs/benchmarks.md).
# Safe because nothing C++ crosses the ABI.
function(nsrig_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL;STATIC_RUNTIME" "OUTPUT_DIRECTORY;INSTALL_DIR" "SOURCES" ${ARGN})
  if(NOT name MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "nsrig_add_plugin(${name}): the name may contain only a-z, 0-9, '_' and '-'")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "nsrig_add_plugin(${name}): SOURCES is required")
  endif()
  set(target nsrig_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE nsrig::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  if(ARG_STATIC_RUNTIME OR NSRIG_PLUGINS_STATIC_RUNTIME)
    # --gc-sections: the runtime's unused parts left out (about 60 KiB a plugin).
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,--gc-sections)
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED NSRIG_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${NSRIG_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT ARG_INSTALL_DIR AND DEFINED NSRIG_PLUGIN_INSTALL_DIR)
    set(ARG_INSTALL_DIR ${NSRIG_PLUGIN_INSTALL_DIR})  # found with find_package: where that nsrig looks
  elseif(NOT ARG_INSTALL_DIR)
    set(ARG_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/nsrig/plugins)
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${ARG_INSTALL_DIR})
  endif()
  set_property(GLOBAL APPEND PROPERTY NSRIG_PLUGIN_TARGETS ${target})
endfunction()
