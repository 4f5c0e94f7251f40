# Article pages within bounds: the sanitizer's model of the browser's tree,
# Markdown that md4c 0.4.8 renders in super-linear time, attachment mentions.
if(TARGET szclient)
    sz_unit_test(test_render SOURCES test_render.c LIBS szclient)
endif()
