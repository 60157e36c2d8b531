# engine/format/local.mk -- rules for engine/format/ (sources are added to engine_libengine_a_SOURCES).
