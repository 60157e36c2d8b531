# engine/text/local.mk -- rules for engine/text/ (sources are added to engine_libengine_a_SOURCES).
