from services.events.bootstrap import run

run()
