# nsrig_add_plugin(NAME SOURCES src... [OUTPUT_DIRECTORY dir] [INSTALL_DIR dir] [NO_INSTALL]
#                  [STATIC_RUNTIME] [BUNDLE file])
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
#
# BUNDLE file makes the plugin a member of the bundle `file` (see
# nsrig_add_plugin_bundle below) instead of a file of its own: the target is
# then an OBJECT library, and OUTPUT_DIRECTORY, INSTALL_DIR, NO_INSTALL and
# STATIC_RUNTIME are the bundle's to give.
# What a plugin file and a bundle share: a MODULE linked against nsrig::sdk only
# (undefined symbols a link error), no "lib" prefix, hidden visibility, the C++
# runtime linked in on request, its output directory; `install_var` gets where
# it installs (`install_dir`, or where the nsrig found by find_package looks, or
# <libdir>/nsrig/plugins).
function(_nsrig_module target static_runtime output_dir install_dir install_var)
  target_link_libraries(${target} PRIVATE nsrig::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  if(static_runtime OR NSRIG_PLUGINS_STATIC_RUNTIME)
    # --gc-sections: the runtime's unused parts left out (about 60 KiB a plugin).
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,--gc-sections)
  endif()
  if(output_dir)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${output_dir})
  elseif(DEFINED NSRIG_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${NSRIG_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT install_dir AND DEFINED NSRIG_PLUGIN_INSTALL_DIR)
    set(install_dir ${NSRIG_PLUGIN_INSTALL_DIR})  # found with find_package: where that nsrig looks
  elseif(NOT install_dir)
    set(install_dir ${CMAKE_INSTALL_LIBDIR}/nsrig/plugins)
  endif()
  set(${install_var} ${install_dir} PARENT_SCOPE)
endfunction()

function(nsrig_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL;STATIC_RUNTIME" "OUTPUT_DIRECTORY;INSTALL_DIR;BUNDLE" "SOURCES" ${ARGN})
  if(NOT name MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "nsrig_add_plugin(${name}): the name may contain only a-z, 0-9, '_' and '-'")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "nsrig_add_plugin(${name}): SOURCES is required")
  endif()
  set(target nsrig_plugin_${name})
  if(ARG_BUNDLE)
    if(TARGET nsrig_bundle_${ARG_BUNDLE})
      message(FATAL_ERROR "nsrig_add_plugin(${name} ... BUNDLE ${ARG_BUNDLE}): nsrig_add_plugin_bundle(${ARG_BUNDLE}) "
                          "was already called; add every member before it")
    endif()
    get_property(_pending GLOBAL PROPERTY NSRIG_BUNDLES_PENDING)
    if(NOT ARG_BUNDLE IN_LIST _pending)
      set_property(GLOBAL APPEND PROPERTY NSRIG_BUNDLES_PENDING ${ARG_BUNDLE})
    endif()
    get_property(_deferred GLOBAL PROPERTY NSRIG_BUNDLES_CHECK_DEFERRED)
    if(NOT _deferred)  # at the end of the configure step: every BUNDLE name was built
      set_property(GLOBAL PROPERTY NSRIG_BUNDLES_CHECK_DEFERRED TRUE)
      cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _nsrig_check_bundles_built)
    endif()
    string(MAKE_C_IDENTIFIER ${name} _id)
    add_library(${target} OBJECT ${ARG_SOURCES})
    target_link_libraries(${target} PRIVATE nsrig::sdk)
    target_compile_definitions(${target} PRIVATE NSRIG_BUNDLE_MEMBER=${_id})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON
      C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
      NSRIG_PLUGIN_NAME ${name} NSRIG_BUNDLE ${ARG_BUNDLE})
    set_property(GLOBAL APPEND PROPERTY NSRIG_BUNDLE_${ARG_BUNDLE}_MEMBERS ${name})
    set_property(GLOBAL APPEND PROPERTY NSRIG_PLUGIN_TARGETS ${target})
    return()
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${name})
  _nsrig_module(${target} "${ARG_STATIC_RUNTIME}" "${ARG_OUTPUT_DIRECTORY}" "${ARG_INSTALL_DIR}" ARG_INSTALL_DIR)
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${ARG_INSTALL_DIR})
  endif()
  set_target_properties(${target} PROPERTIES NSRIG_PLUGIN_NAME ${name})
  set_property(GLOBAL APPEND PROPERTY NSRIG_PLUGIN_TARGETS ${target})
endfunction()

# nsrig_add_plugin_bundle(FILE [OUTPUT_DIRECTORY dir] [INSTALL_DIR dir] [NO_INSTALL] [STATIC_RUNTIME])
#
# Builds the plugins added with nsrig_add_plugin(... BUNDLE FILE), called
# before this, as one shared object FILE.bundle that exports only
# nsrig_plugin_bundle (<nsrig/plugin.h>), and makes NAME.so, a relative
# symlink to it, for each member, next to it and where it is installed. A
# host that loads several of the members then maps and relocates one file
# (docs/writing-plugins.md, "Bundles"). The CMake target is
# nsrig_bundle_FILE; its property NSRIG_BUNDLE_MEMBERS lists the plugin names.
# FILE: [a-z0-9_-]; it must not be the name of a member.
function(nsrig_add_plugin_bundle file)
  cmake_parse_arguments(ARG "NO_INSTALL;STATIC_RUNTIME" "OUTPUT_DIRECTORY;INSTALL_DIR" "" ${ARGN})
  if(NOT file MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "nsrig_add_plugin_bundle(${file}): the name may contain only a-z, 0-9, '_' and '-' "
                        "(the file is NAME.bundle)")
  endif()
  get_property(_members GLOBAL PROPERTY NSRIG_BUNDLE_${file}_MEMBERS)
  if(NOT _members)
    get_property(_pending GLOBAL PROPERTY NSRIG_BUNDLES_PENDING)
    set(_known "")
    if(_pending)
      list(JOIN _pending ", " _known)
      set(_known " (members were added with BUNDLE ${_known})")
    endif()
    message(FATAL_ERROR "nsrig_add_plugin_bundle(${file}): no plugin was added with BUNDLE ${file} before it${_known}")
  endif()
  if(file IN_LIST _members)
    message(FATAL_ERROR "nsrig_add_plugin_bundle(${file}): the plugin '${file}' is a member, and its symlink "
                        "${file}.so must not name the bundle itself; call the bundle something else")
  endif()
  set(target nsrig_bundle_${file})
  set(_decls "")
  set(_fns "")
  foreach(m IN LISTS _members)
    string(MAKE_C_IDENTIFIER ${m} _id)
    string(APPEND _decls "extern \"C\" const nsrig_plugin_descriptor *nsrig_bundle_member_${_id}();\n")
    list(APPEND _fns nsrig_bundle_member_${_id})
  endforeach()
  list(JOIN _fns ", " _fns)
  set(_src ${CMAKE_CURRENT_BINARY_DIR}/${target}.cpp)
  file(CONFIGURE OUTPUT ${_src} CONTENT
       "// Generated by nsrig_add_plugin_bundle(${file}); do not edit.\n#include <nsrig/plugin.hpp>\n\n${_decls}\nNSRIG_PLUGIN_BUNDLE(${_fns})\n")
  add_library(${target} MODULE ${_src})
  foreach(m IN LISTS _members)
    target_link_libraries(${target} PRIVATE nsrig_plugin_${m})
  endforeach()
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${file} SUFFIX ".bundle" NSRIG_BUNDLE_MEMBERS "${_members}")
  _nsrig_module(${target} "${ARG_STATIC_RUNTIME}" "${ARG_OUTPUT_DIRECTORY}" "${ARG_INSTALL_DIR}" ARG_INSTALL_DIR)
  # The symlinks, made at every build (a deleted one comes back): nsrig_bundle_FILE_links.
  set(_links)
  foreach(m IN LISTS _members)
    list(APPEND _links COMMAND ${CMAKE_COMMAND} -E create_symlink ${file}.bundle $<TARGET_FILE_DIR:${target}>/${m}.so)
  endforeach()
  add_custom_target(${target}_links ALL ${_links} DEPENDS ${target} VERBATIM)
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${ARG_INSTALL_DIR})
    foreach(m IN LISTS _members)
      install(CODE "
        set(_dir \"${ARG_INSTALL_DIR}\")
        if(NOT IS_ABSOLUTE \"\${_dir}\")
          set(_dir \"\${CMAKE_INSTALL_PREFIX}/\${_dir}\")
        endif()
        message(STATUS \"Installing: \$ENV{DESTDIR}\${_dir}/${m}.so -> ${file}.bundle\")
        file(CREATE_LINK ${file}.bundle \"\$ENV{DESTDIR}\${_dir}/${m}.so\" SYMBOLIC)
        list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\$ENV{DESTDIR}\${_dir}/${m}.so\")")
    endforeach()
  endif()
  set_property(GLOBAL APPEND PROPERTY NSRIG_PLUGIN_BUNDLES ${target})
  get_property(_pending GLOBAL PROPERTY NSRIG_BUNDLES_PENDING)
  list(REMOVE_ITEM _pending ${file})
  set_property(GLOBAL PROPERTY NSRIG_BUNDLES_PENDING ${_pending})
endfunction()

# Deferred to the end of the configure step by nsrig_add_plugin(... BUNDLE):
# a member whose bundle was never built would be an object library that ends
# up in no file, silently.
function(_nsrig_check_bundles_built)
  get_property(_pending GLOBAL PROPERTY NSRIG_BUNDLES_PENDING)
  foreach(b IN LISTS _pending)
    get_property(_members GLOBAL PROPERTY NSRIG_BUNDLE_${b}_MEMBERS)
    list(JOIN _members ", " _members)
    message(FATAL_ERROR "plugins ${_members} were added with BUNDLE ${b}, but nsrig_add_plugin_bundle(${b}) "
                        "was never called: call it after the last of them")
  endforeach()
endfunction()
