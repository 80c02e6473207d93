from services.matching.bootstrap import run

run()
