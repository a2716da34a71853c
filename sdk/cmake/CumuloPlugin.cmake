# cumulo_add_plugin(<target> <sources>...)
# Builds a Cumulo plugin the way the host expects it: a MODULE library with
# hidden visibility, exactly one exported symbol (version script), bundled
# static libraries kept private (--exclude-libs), undefined symbols refused at
# link time, and no "lib" prefix. Set CUMULO_PLUGIN_OUTPUT_DIR to choose where
# the .so lands.
function(cumulo_add_plugin target)
  set(_map "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/plugin.map")
  add_library(${target} MODULE ${ARGN})
  if(TARGET Cumulo::sdk)
    target_link_libraries(${target} PRIVATE Cumulo::sdk)
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE
    "-Wl,--version-script=${_map}" "-Wl,--exclude-libs,ALL")
  # Refuse undefined symbols at link time (sanitizer runtimes live in the host).
  if(NOT CUMULO_SANITIZE)
    target_link_options(${target} PRIVATE "-Wl,-z,defs")
  endif()
  if(CUMULO_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CUMULO_PLUGIN_OUTPUT_DIR})
  endif()
endfunction()
