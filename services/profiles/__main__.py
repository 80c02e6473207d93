from services.profiles.bootstrap import run

run()
